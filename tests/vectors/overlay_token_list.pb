
TTO-ABCDOBS Î∏÷ÿ
TTO-EFGH Ï∏÷ÿ