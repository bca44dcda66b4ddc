
ok$3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f$b71c9e42-58d3-4a0f-8e6b-c2d94f1a7e05