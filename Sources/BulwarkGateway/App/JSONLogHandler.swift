import BulwarkCore
import Foundation
import Logging

/// Structured logs for log shippers: one JSON object per line on standard error,
/// `{"ts":"…","level":"…","label":"…","message":"…","metadata":{…},"source":"…"}`. Every string goes
/// through `JSONWriter`, so a hostile value (newlines, ANSI escapes) cannot forge a line.
struct JSONLogHandler: LogHandler {
    /// Installs the process's log handler once, for `serve` and `venue` alike: JSON lines, or text
    /// at level info, on standard error.
    static func bootstrap(format: GatewayConfiguration.LogFormat) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .json: return JSONLogHandler(label: label)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
        }
    }

    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var w = JSONWriter()
        w.beginObject()
        w.key("ts")
        w.string(Self.timestamp())
        w.key("level")
        w.string(event.level.rawValue)
        w.key("label")
        w.string(label)
        w.key("message")
        w.string(event.message.description)
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            w.key("metadata")
            w.beginObject()
            for key in merged.keys.sorted() {
                w.key(key)
                w.string(merged[key]!.description)
            }
            w.endObject()
        }
        w.key("source")
        w.string(event.source)
        w.endObject()
        FileHandle.standardError.write(Data((w.string + "\n").utf8))
    }

    /// RFC 3339 UTC with microseconds.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
            parts.tm_sec, Int(now.tv_nsec / 1000))
    }
}
