import AVFoundation
import Flutter
import UIKit

/// Sets up background audio for TTBoost:
/// - AVAudioSession category .playback (keeps playing with the screen locked and
///   in the background, with UIBackgroundModes "audio" in Info.plist) and option
///   .mixWithOthers, so TikTok's own sound keeps playing under ours;
/// - interruptions (a call, Siri, an alarm): pause the AudioQueue sink, then
///   reactivate the session and resume it when the interruption ends;
/// - route changes (headphones unplugged) and media-services resets: resume.
/// The sink itself (C, mobile/core/platform/ios) pulls PCM from the core.
@main
@objc class AppDelegate: FlutterAppDelegate {
  override func application(
    _ application: UIApplication,
    didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?
  ) -> Bool {
    GeneratedPluginRegistrant.register(with: self)
    configureAudioSession()
    let center = NotificationCenter.default
    center.addObserver(self, selector: #selector(handleInterruption(_:)),
                       name: AVAudioSession.interruptionNotification, object: nil)
    center.addObserver(self, selector: #selector(handleRouteChange(_:)),
                       name: AVAudioSession.routeChangeNotification, object: nil)
    center.addObserver(self, selector: #selector(handleMediaServicesReset(_:)),
                       name: AVAudioSession.mediaServicesWereResetNotification, object: nil)
    return super.application(application, didFinishLaunchingWithOptions: launchOptions)
  }

  private func configureAudioSession() {
    let session = AVAudioSession.sharedInstance()
    do {
      try session.setCategory(.playback, mode: .spokenAudio, options: [.mixWithOthers])
      try session.setPreferredSampleRate(48_000)
      try session.setActive(true)
    } catch {
      NSLog("TTBoost: AVAudioSession setup failed: \(error)")
    }
  }

  @objc private func handleInterruption(_ note: Notification) {
    guard let info = note.userInfo,
          let raw = info[AVAudioSessionInterruptionTypeKey] as? UInt,
          let type = AVAudioSession.InterruptionType(rawValue: raw) else { return }
    switch type {
    case .began:
      _ = ttb_sink_pause()
    case .ended:
      // Resume even without .shouldResume: chat must keep being read after a call.
      do {
        try AVAudioSession.sharedInstance().setActive(true)
      } catch {
        NSLog("TTBoost: could not reactivate the audio session: \(error)")
      }
      _ = ttb_sink_resume()
    @unknown default:
      break
    }
  }

  @objc private func handleRouteChange(_ note: Notification) {
    guard let info = note.userInfo,
          let raw = info[AVAudioSessionRouteChangeReasonKey] as? UInt,
          let reason = AVAudioSession.RouteChangeReason(rawValue: raw) else { return }
    if reason == .oldDeviceUnavailable || reason == .newDeviceAvailable {
      _ = ttb_sink_resume()
    }
  }

  @objc private func handleMediaServicesReset(_ note: Notification) {
    configureAudioSession()
    _ = ttb_sink_resume()
  }
}
