ÿÿÿÿÿÿÿÿÿ!
Universeÿÿÿÿhttps://x/s.ogg