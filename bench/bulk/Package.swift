// swift-tools-version: 6.0
// The guest half of bench/bulk.py; `swiftlet build bench/bulk` builds it.
import PackageDescription

let package = Package(
    name: "bulk",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "bulk", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
