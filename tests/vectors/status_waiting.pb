BJ
waiting
aruka.live"3@aruka.live is not live now; looking again in 30 s.