°Ö["$	 
ArukaHi!http://h/tts/x.ogg