
$3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f'
ArukaRose"6812739046123(—,08@