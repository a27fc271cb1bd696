// swift-tools-version:6.0
import PackageDescription

// The same routes as Examples/web-routes, on Hummingbird 2: the framework a Swift developer
// would otherwise pick, measured beside ours by tools/bench-framework.py. A package of its
// own so that neither the library's build nor CI ever resolves Hummingbird; build it with
// `make bench-framework` (or `swift build -c release` here).
let package = Package(
    name: "hummingbird-peer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
    ],
    targets: [
        .executableTarget(
            name: "hummingbird-routes",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
