// swift-tools-version:6.1
import PackageDescription

// Microbenchmarks of the hot paths, with ordo-one/benchmark: a package of its own, so that
// neither the library's users nor `make test` ever resolve or build it. Run with
// `make microbench` (or `swift package benchmark` here). The MallocInterposer trait alone is
// asked for: the package's default traits add an ARC-runtime interposer on Linux with
// Swift 6.3 that this machine's package mirror does not carry.
let package = Package(
    name: "uring-cluster-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "uring-cluster", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "UringCluster", package: "uring-cluster"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
