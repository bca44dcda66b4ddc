2pb:msgB'

WebcastControlMessage2c-1è