.
q"uote\back/slashline1
line2	tab end