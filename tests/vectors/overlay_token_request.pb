
OBS: main scene