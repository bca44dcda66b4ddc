,
Rose"https://server.com/sounds/rose.mp3