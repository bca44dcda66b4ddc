1
Lionhttps://x/sounds/lion.ogg"Дархан