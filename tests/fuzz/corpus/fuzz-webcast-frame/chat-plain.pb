2pb:msgBD
:
WebcastChatMessage$
éNick²nickhello Ã©ðŸ˜€c-1è