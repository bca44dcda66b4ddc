
partial5invalid(count: expected an integer, got a string%unknown_channelNo such channel.