import NIOCore
import Testing
@testable import NetRelayConfig
@testable import NetRelayCore

/// The four message formats, at fixed instants. The locale strings are what Node 20.20
/// prints for `new Date(ms).toLocaleString()` with TZ set to the zone named in each case
/// (Etc/GMT+5 is UTC-5: POSIX signs are inverted).
@Suite("Announcement formatter")
struct AnnouncementFormatterTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var zone: String
        var offset: Int
        var ms: Int
        var locale: String
        var iso: String
        var testDescription: String { "\(iso) in \(zone)" }
    }

    static let cases: [Case] = [
        Case(zone: "Etc/GMT+5", offset: -5 * 3600, ms: 1_795_806_184_123, locale: "11/27/2026, 2:03:04 PM", iso: "2026-11-27T19:03:04.123Z"),
        Case(zone: "Etc/GMT+5", offset: -5 * 3600, ms: 1_767_243_600_000, locale: "1/1/2026, 12:00:00 AM", iso: "2026-01-01T05:00:00.000Z"),
        Case(zone: "Etc/GMT+5", offset: -5 * 3600, ms: 1_767_286_800_999, locale: "1/1/2026, 12:00:00 PM", iso: "2026-01-01T17:00:00.999Z"),
        Case(zone: "UTC", offset: 0, ms: 1_798_761_599_999, locale: "12/31/2026, 11:59:59 PM", iso: "2026-12-31T23:59:59.999Z"),
        Case(zone: "Etc/GMT-9", offset: 9 * 3600, ms: 1_782_831_600_000, locale: "7/1/2026, 12:00:00 AM", iso: "2026-06-30T15:00:00.000Z"),
        Case(zone: "UTC", offset: 0, ms: 0, locale: "1/1/1970, 12:00:00 AM", iso: "1970-01-01T00:00:00.000Z"),
        Case(zone: "Etc/GMT-14", offset: 14 * 3600, ms: 2_147_483_648_001, locale: "1/19/2038, 5:14:08 PM", iso: "2038-01-19T03:14:08.001Z"),
    ]

    /// The instant of `ms`, with sub-millisecond nanoseconds that must be truncated away.
    func time(_ ms: Int) -> WallClockTime {
        WallClockTime(seconds: ms / 1000, nanoseconds: (ms % 1000) * 1_000_000 + 999_999)
    }

    func formatter(_ format: AnnouncerSpec.Format, offset: Int = 0, host: String = "web1", listener: String = "time") -> AnnouncementFormatter {
        AnnouncementFormatter(format: format, host: host, listener: listener, timeZone: .fixed(offsetSeconds: offset))
    }

    @Test("locale: en-US like Node's toLocaleString(), in the local zone", arguments: cases)
    func locale(_ c: Case) {
        #expect(formatter(.locale, offset: c.offset).string(time: time(c.ms), sequence: 0) == c.locale)
    }

    @Test("iso8601: UTC with milliseconds, like toISOString()", arguments: cases)
    func iso8601(_ c: Case) {
        #expect(formatter(.iso8601, offset: c.offset).string(time: time(c.ms), sequence: 0) == c.iso)
    }

    @Test("epoch: seconds with three decimals", arguments: cases)
    func epoch(_ c: Case) {
        let expected = "\(c.ms / 1000).\(String(c.ms % 1000).leftPadded(to: 3))"
        #expect(formatter(.epoch).string(time: time(c.ms), sequence: 0) == expected)
    }

    @Test("json: time, seq, host and listener in one compact object")
    func json() {
        let text = formatter(.json).string(time: time(1_795_806_184_123), sequence: 42)
        #expect(text == #"{"time":"2026-11-27T19:03:04.123Z","seq":42,"host":"web1","listener":"time"}"#)
    }

    @Test("json: names are escaped, the largest sequence number is written in full")
    func jsonEscapes() {
        let f = formatter(.json, host: "a\"b\\c", listener: "tab\there")
        let text = f.string(time: time(0), sequence: .max)
        #expect(text == #"{"time":"1970-01-01T00:00:00.000Z","seq":18446744073709551615,"host":"a\"b\\c","listener":"tab\there"}"#)
    }

    @Test("The host zone goes through localtime_r (here: whatever this process's zone is)")
    func hostZoneMatchesLocaltime() {
        let f = AnnouncementFormatter(format: .locale, host: "h", listener: "l")
        let text = f.string(time: time(1_795_806_184_123), sequence: 0)
        let c = LocalTimeZone.host.civilTime(1_795_806_184)
        #expect(text.hasPrefix("\(c.month)/\(c.day)/\(c.year), "))
        #expect(text.hasSuffix(c.hour < 12 ? " AM" : " PM"))
    }

    @Test("Writing into a reused buffer replaces the previous announcement")
    func reusedBuffer() {
        let f = formatter(.epoch)
        var buffer = ByteBuffer()
        f.write(time: time(1_000_123), sequence: 0, into: &buffer)
        buffer.clear()
        f.write(time: time(2_000_456), sequence: 1, into: &buffer)
        #expect(String(buffer: buffer) == "2000.456")
    }

    @Test("Decimal digits, padded", arguments: [
        (UInt64(0), 1, "0"), (7, 3, "007"), (123, 2, "123"), (2026, 4, "2026"), (UInt64.max, 1, "18446744073709551615"), (5, 25, "00000000000000000005"),
    ])
    func decimals(value: UInt64, digits: Int, expected: String) {
        var b = ByteBuffer()
        b.writeASCIIDecimal(value, digits: digits)
        #expect(String(buffer: b) == expected)
    }
}
