#import "GeneratedPluginRegistrant.h"
// The audio sink of mobile/core (AudioQueue), linked statically through the
// ttboost_core pod: AppDelegate.swift pauses/resumes it on interruptions.
#import "ttb_sink.h"
