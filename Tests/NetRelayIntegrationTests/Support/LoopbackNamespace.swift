import Foundation

/// A network namespace with nothing in it but `lo`: no other interface and no route out, so
/// multicast sent inside can reach this namespace's own sockets and nothing else — whatever
/// the code under test gets wrong about the outgoing interface. (A wrong IP_MULTICAST_IF
/// sends announcements along the default route; in here that fails with ENETUNREACH instead
/// of reaching the machine's real network.) Deleted in `destroy()` and in deinit.
final class LoopbackNamespace: @unchecked Sendable {
    let name: String
    private var created = false

    /// Why one cannot be made here (not root, `ip netns` refused), or nil.
    static var unavailableReason: String? { NetworkLab.unavailableReason }

    init() throws {
        name = "nrlo\(getpid() % 100000)x\(Int.random(in: 0...99999))"
        try NetworkLab.run(["ip", "netns", "add", name])
        created = true
        do {
            try exec(["ip", "link", "set", "lo", "up"])
        } catch {
            destroy()
            throw error
        }
    }

    /// Runs a command inside and returns its output; throws on failure.
    @discardableResult
    func exec(_ args: [String]) throws -> String {
        try NetworkLab.run(["ip", "netns", "exec", name] + args)
    }

    /// The prefix that runs a command inside.
    var prefix: [String] { ["ip", "netns", "exec", name] }

    func destroy() {
        if created {
            _ = try? NetworkLab.run(["ip", "netns", "del", name])
            created = false
        }
    }

    deinit { destroy() }
}
