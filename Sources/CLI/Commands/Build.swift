// `swiftlet build [PATH] [--target hvt|spt|virtio|all] [-o IMAGE] [--strip] [--debug] [--assets DIR] [--full-swift]`
import ArgumentParser
import Foundation
import SwiftletBuild

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Build an application into a unikernel image.")

    @Argument(help: "The application: a package folder, a folder of Swift files, or one Swift file.")
    var path: String = "."

    @Option(help: "Targets the image may run on: all (hvt and spt, one image), hvt, spt, or virtio (a PVH kernel for QEMU and Firecracker).")
    var target: TargetOption = .all

    @Option(name: .shortAndLong, help: "Where to write the image (default: PATH/.build/swiftlet/NAME.swiftlet).")
    var output: String?

    @Flag(help: "Remove symbols and DWARF (smaller image; crash reports lose function names, gdb sees no source).")
    var strip = false

    @Flag(help: "Compile the application unoptimized (-Onone), for a debugger: every local visible, lines in order.")
    var debug = false

    @Option(help: "Folder of static files to embed in the image (default: PATH/assets, if it exists).")
    var assets: String?

    @Flag(help: "Prototype: compile ordinary Swift (existentials, weak, Mirror, Codable) and link the full static Swift runtime instead of Embedded Swift and the library OS (console and exit only; hvt and spt). See docs/full-swift-runtime.md.")
    var fullSwift = false

    func run() throws {
        let image = try Self.build(path: path, targets: target.targets, output: output, strip: strip, debug: debug,
                                   assets: assets, fullSwift: fullSwift)
        say("built \(image.image.path) (\(formatSize(image.size))\(fullSwift ? ", full Swift runtime prototype" : ""))")
    }

    static func build(path: String, targets: [Target], output: String?, strip: Bool = false, debug: Bool = false,
                      assets: String? = nil, fullSwift: Bool = false) throws -> ImageBuilder.Result {
        let application = try Application(path: path, assets: fullSwift ? nil : assets)
        let builder = ImageBuilder(toolchain: try Toolchain.locate(), home: try SwiftletHome.locate(), log: { say($0) })
        let destination = output.map { URL(fileURLWithPath: $0) } ?? defaultImage(for: application)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        if fullSwift { return try builder.buildFullRuntime(application, targets: targets, output: destination, strip: strip) }
        return try builder.build(application, targets: targets, output: destination, strip: strip, unoptimized: debug)
    }

    static func defaultImage(for application: Application) -> URL {
        application.root.appendingPathComponent(".build/swiftlet/\(application.name).swiftlet")
    }
}
