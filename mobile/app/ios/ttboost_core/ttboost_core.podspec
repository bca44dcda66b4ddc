# mobile/core (libttboost-client) linked statically into the Runner app.
# Build the xcframework first: ios/ttboost_core/build_xcframework.sh
Pod::Spec.new do |s|
  s.name             = 'ttboost_core'
  s.version          = '0.1.0'
  s.summary          = 'TTBoost client core (C): connection, codecs, audio engine, AudioQueue sink.'
  s.homepage         = 'https://ttboost.app'
  s.license          = { :type => 'MIT' }
  s.author           = 'TTBoost'
  s.source           = { :path => '.' }
  s.platform         = :ios, '13.0'
  s.static_framework = true

  s.vendored_frameworks = 'build/TtboostCore.xcframework'
  # include/ holds symlinks to ttb_sink.h and ttboost/client.h for Runner's
  # bridging header (AppDelegate.swift calls ttb_sink_pause/resume).
  s.preserve_paths = 'include/**/*.h'
  s.frameworks = 'AudioToolbox', 'AVFoundation'

  # dart:ffi finds the API with DynamicLibrary.process(): load every object of
  # the archive (nothing in Swift references most functions) and keep the
  # exported symbols (set Strip Style to "Non-Global Symbols" for archives).
  s.user_target_xcconfig = {
    'OTHER_LDFLAGS' => '$(inherited) -force_load "${PODS_XCFRAMEWORKS_BUILD_DIR}/ttboost_core/libttboost_core.a"',
    'STRIP_STYLE' => 'non-global',
    'HEADER_SEARCH_PATHS' => '$(inherited) "${PODS_ROOT}/../ttboost_core/include"',
  }
end
