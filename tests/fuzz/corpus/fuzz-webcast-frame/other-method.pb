2pb:msgBB

WebcastMemberMessage3

WebcastChatMessageÿÿ4c-1è