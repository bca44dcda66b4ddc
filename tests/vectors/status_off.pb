B
off