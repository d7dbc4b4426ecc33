// swift-tools-version:6.0
// SPDX-License-Identifier: Apache-2.0
// netrelayd is licensed under the Apache License 2.0: see LICENSE.
import PackageDescription

let package = Package(
    name: "netrelayd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "netrelayd", targets: ["netrelayd"]),
        .executable(name: "netrelayctl", targets: ["netrelayctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // sendmmsg(2) for the datagram listeners (a GNU extension Glibc's Swift module leaves out).
        .target(name: "CNetRelayShims"),
        // The configuration model, its parser and decoder, each kind's configuration half, and
        // the text helpers every layer shares. No dependency: the compiler keeps it free of NIO,
        // so check-config's decoding, the fuzzer (scripts/fuzz) and netrelayctl build on it alone.
        .target(name: "NetRelayConfig"),
        .target(
            name: "NetRelayCore",
            dependencies: [
                "NetRelayConfig",
                "CNetRelayShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .target(
            name: "NetRelaySystemd",
            dependencies: [
                "CSystemd",
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "netrelayd",
            dependencies: [
                "NetRelayConfig",
                "NetRelayCore",
                "NetRelaySystemd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "netrelayctl",
            dependencies: [
                // For the text helpers in NetRelayConfig/Support (JSON quoting, escaping); the probes
                // talk to the daemon only over the network.
                "NetRelayConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "NetRelayCoreTests",
            dependencies: [
                "NetRelayConfig",
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "NetRelaySystemdTests",
            dependencies: ["NetRelayConfig", "NetRelayCore", "NetRelaySystemd"]
        ),
        .testTarget(
            name: "NetRelayCtlTests",
            dependencies: [
                // Runs the built netrelayctl and netrelayd binaries; the dependencies make `swift test` build them first.
                "netrelayctl",
                "netrelayd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NetRelayIntegrationTests",
            dependencies: [
                "NetRelayConfig",
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
