
ok