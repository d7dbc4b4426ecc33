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
        .target(
            name: "NetRelayCore",
            dependencies: [
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
                "NetRelayCore",
                "NetRelaySystemd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "netrelayctl",
            dependencies: [
                // For the helpers in NetRelayCore/Support (JSON quoting); the probes talk to the daemon only over the network.
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "NetRelayCoreTests",
            dependencies: [
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "NetRelaySystemdTests",
            dependencies: ["NetRelayCore", "NetRelaySystemd"]
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
                "NetRelayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
