9
ArukaПривет!!https://server.com/tts/abc123.mp3