#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NetRelayConfig

/// A moment on the wall clock (CLOCK_REALTIME): what an announcement tells.
struct WallClockTime: Sendable, Equatable {
    /// Seconds since 1970-01-01T00:00:00Z.
    var seconds: Int
    /// 0 ..< 1_000_000_000.
    var nanoseconds: Int

    static func now() -> WallClockTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallClockTime(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    /// Milliseconds since the epoch, truncated (as JavaScript's `Date` holds time).
    var milliseconds: Int { seconds * 1000 + nanoseconds / 1_000_000 }
}

/// A calendar date and time of day, in some time zone.
struct CivilTime: Sendable, Equatable {
    var year: Int
    /// 1 ... 12
    var month: Int
    var day: Int
    /// 0 ... 23
    var hour: Int
    var minute: Int
    /// 0 ... 60 (a leap second, if the zone data has them)
    var second: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    init(_ t: tm) {
        self.init(year: Int(t.tm_year) + 1900, month: Int(t.tm_mon) + 1, day: Int(t.tm_mday),
                  hour: Int(t.tm_hour), minute: Int(t.tm_min), second: Int(t.tm_sec))
    }

    /// UTC, via gmtime_r.
    static func utc(_ seconds: Int) -> CivilTime {
        var t = time_t(seconds)
        var out = tm()
        gmtime_r(&t, &out)
        return CivilTime(out)
    }
}

/// Turns epoch seconds into the local date and time. The locale format uses the host's zone
/// (TZ, else /etc/localtime) as Node's `toLocaleString()` does; tests use a fixed offset.
struct LocalTimeZone: Sendable {
    let civilTime: @Sendable (Int) -> CivilTime

    /// The host's zone through localtime_r. glibc's localtime_r reads the zone only once per
    /// process unless tzset() runs, so `reloadHostZone()` is called when an announcer starts
    /// or is updated, not per announcement (tzset stats /etc/localtime: not for the hot path).
    static let host = LocalTimeZone { seconds in
        var t = time_t(seconds)
        var out = tm()
        localtime_r(&t, &out)
        return CivilTime(out)
    }

    static func reloadHostZone() { tzset() }

    /// A zone at a constant offset from UTC (no daylight saving time), for tests.
    static func fixed(offsetSeconds: Int) -> LocalTimeZone {
        LocalTimeZone { CivilTime.utc($0 + offsetSeconds) }
    }
}

/// Writes the text of one announcement in the configured format:
/// - `locale`: `11/27/2026, 2:03:04 PM`, local time, as Node's `new Date().toLocaleString()`
///   prints in en-US (the classic example's message);
/// - `iso8601`: `2026-11-27T14:03:04.123Z`, UTC, as `Date.prototype.toISOString()`;
/// - `epoch`: `1795788184.123`, seconds since the epoch with milliseconds;
/// - `json`: `{"time":"<iso8601>","seq":42,"host":"web1","listener":"time"}`, one object
///   without spaces; `seq` counts the announcements this listener has sent, so a gap tells
///   a receiver that datagrams were lost.
///
/// Straight into a reused `ByteBuffer` with no intermediate `String`, so an announcement costs a
/// clock read, a gmtime_r/localtime_r and a few dozen byte stores. Milliseconds are truncated,
/// never rounded up, so the text never names a moment that has not happened yet.
struct AnnouncementFormatter: Sendable {
    let format: AnnouncerSpec.Format
    let timeZone: LocalTimeZone
    /// `,"host":"web1","listener":"time"}`: the constant end of a JSON announcement, encoded once.
    private let jsonTail: [UInt8]

    init(format: AnnouncerSpec.Format, host: String, listener: String, timeZone: LocalTimeZone = .host) {
        self.format = format
        self.timeZone = timeZone
        jsonTail = Array(",\"host\":\(JSONString.quote(host)),\"listener\":\(JSONString.quote(listener))}".utf8)
    }

    func write(time: WallClockTime, sequence: UInt64, into buffer: inout ByteBuffer) {
        switch format {
        case .locale:
            writeLocale(time, into: &buffer)
        case .iso8601:
            writeISO8601(time, into: &buffer)
        case .epoch:
            let ms = time.milliseconds
            if ms < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
            buffer.writeASCIIDecimal(UInt64(ms.magnitude / 1000))
            buffer.writeInteger(UInt8(ascii: "."))
            buffer.writeASCIIDecimal(UInt64(ms.magnitude % 1000), digits: 3)
        case .json:
            buffer.writeStaticString("{\"time\":\"")
            writeISO8601(time, into: &buffer)
            buffer.writeStaticString("\",\"seq\":")
            buffer.writeASCIIDecimal(sequence)
            buffer.writeBytes(jsonTail)
        }
    }

    /// The announcement as a string (tests, logs).
    func string(time: WallClockTime, sequence: UInt64) -> String {
        var buffer = ByteBuffer()
        write(time: time, sequence: sequence, into: &buffer)
        return String(buffer: buffer)
    }

    private func writeISO8601(_ time: WallClockTime, into buffer: inout ByteBuffer) {
        let c = CivilTime.utc(time.seconds)
        buffer.writeASCIIDecimal(UInt64(clamping: c.year), digits: 4)
        buffer.writeInteger(UInt8(ascii: "-"))
        buffer.writeASCIIDecimal(UInt64(c.month), digits: 2)
        buffer.writeInteger(UInt8(ascii: "-"))
        buffer.writeASCIIDecimal(UInt64(c.day), digits: 2)
        buffer.writeInteger(UInt8(ascii: "T"))
        writeClock(c, hour: c.hour, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "."))
        buffer.writeASCIIDecimal(UInt64(time.nanoseconds / 1_000_000), digits: 3)
        buffer.writeInteger(UInt8(ascii: "Z"))
    }

    /// en-US: month/day/year without padding, a 12-hour clock without a leading zero (midnight
    /// is 12 AM, noon 12 PM), and an ASCII space before AM/PM — what Node 20 prints (some ICU
    /// builds use U+202F there; receivers comparing strings are better served by ASCII).
    private func writeLocale(_ time: WallClockTime, into buffer: inout ByteBuffer) {
        let c = timeZone.civilTime(time.seconds)
        buffer.writeASCIIDecimal(UInt64(c.month))
        buffer.writeInteger(UInt8(ascii: "/"))
        buffer.writeASCIIDecimal(UInt64(c.day))
        buffer.writeInteger(UInt8(ascii: "/"))
        buffer.writeASCIIDecimal(UInt64(clamping: c.year))
        buffer.writeStaticString(", ")
        let hour12 = c.hour % 12 == 0 ? 12 : c.hour % 12
        writeClock(c, hour: hour12, hourDigits: 1, into: &buffer)
        buffer.writeStaticString(c.hour < 12 ? " AM" : " PM")
    }

    /// "HH:MM:SS" (or "H:MM:SS").
    private func writeClock(_ c: CivilTime, hour: Int, hourDigits: Int = 2, into buffer: inout ByteBuffer) {
        buffer.writeASCIIDecimal(UInt64(hour), digits: hourDigits)
        buffer.writeInteger(UInt8(ascii: ":"))
        buffer.writeASCIIDecimal(UInt64(c.minute), digits: 2)
        buffer.writeInteger(UInt8(ascii: ":"))
        buffer.writeASCIIDecimal(UInt64(c.second), digits: 2)
    }
}

extension ByteBuffer {
    /// Writes `value` in decimal ASCII, zero-padded to at least `digits` digits, without
    /// going through a `String`.
    mutating func writeASCIIDecimal(_ value: UInt64, digits: Int = 1) {
        // 20 digits hold UInt64.max; the scratch space lives on the stack.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { scratch in
            var v = value
            var i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v > 0 || scratch.count - i < digits && i > 0
            writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: scratch[i...])))
        }
    }
}
