// swift-tools-version: 6.1
import PackageDescription

// The main package is the folder above; SwiftPM names a path dependency after its folder.
let bulwark = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "bulwark"

// Hot-path microbenchmarks (ordo-one/benchmark), in their own package so that CI's build of the
// main package does not compile the benchmark framework. Run from this folder:
//   swift package --disable-sandbox benchmark
// (docs/benchmarks.md).
let package = Package(
    name: "BulwarkBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "BulwarkCore", package: bulwark),
                .product(name: "BulwarkAuth", package: bulwark),
                .product(name: "BulwarkVenue", package: bulwark),
                .product(name: "BulwarkStore", package: bulwark),
                .product(name: "BulwarkGateway", package: bulwark),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Benchmarks/HotPaths",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
