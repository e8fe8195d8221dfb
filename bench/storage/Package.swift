// swift-tools-version: 6.0
// The guest half of bench/storage.py; `swiftlet build bench/storage` builds it.
import PackageDescription

let package = Package(
    name: "storage",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "storage", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
