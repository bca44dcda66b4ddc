‡∆[
demo
ArukaRose0