// What `swiftlet build PATH` compiles: a package folder (Sources/NAME/*.swift), a folder of
// Swift files, or a single Swift file; and the static assets to embed: the folder's assets/
// by convention, or the folder given with --assets (see AssetBundle.swift).
import Foundation

public struct Application: Equatable, Sendable {
    public let name: String
    public let root: URL
    public let sources: [URL]
    /// The folder whose files are embedded as static assets, if any.
    public private(set) var assetsFolder: URL?

    /// `assets`: the --assets folder (it must exist); without it, PATH/assets if PATH is a
    /// folder that has one.
    public init(path: String, assets: String?) throws(BuildError) {
        try self.init(path: path)
        if let assets {
            let folder = URL(fileURLWithPath: assets).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
                throw .source("the assets folder \(assets) (given with --assets) does not exist")
            }
            guard isDirectory.boolValue else {
                throw .source("\(assets) (given with --assets) is not a folder; give the folder whose files to embed")
            }
            assetsFolder = folder
        }
    }

    public init(path: String) throws(BuildError) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw .source("\(path) does not exist; create an application with `swiftlet new NAME`")
        }
        if !isDirectory.boolValue {
            guard url.pathExtension == "swift" else { throw .source("\(path) is not a Swift file or an application folder") }
            root = url.deletingLastPathComponent()
            name = Self.moduleName(url.deletingPathExtension().lastPathComponent)
            sources = [url]
            return
        }
        root = url
        let packageSources = url.appendingPathComponent("Sources")
        var folder = url
        var moduleName = url.lastPathComponent
        if let targets = try? FileManager.default.contentsOfDirectory(atPath: packageSources.path).sorted() {
            let directories = targets.filter { (try? packageSources.appendingPathComponent($0).resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            let chosen = directories.first { $0 == url.lastPathComponent } ?? directories.first
            if let chosen {
                folder = packageSources.appendingPathComponent(chosen)
                moduleName = chosen
            }
        }
        sources = Self.swiftFiles(in: folder)
        guard !sources.isEmpty else {
            throw .source("no Swift sources in \(folder.path); an application needs at least main.swift or a type marked @main")
        }
        name = Self.moduleName(moduleName)
        let conventional = url.appendingPathComponent("assets")
        var assetsIsDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: conventional.path, isDirectory: &assetsIsDirectory),
           assetsIsDirectory.boolValue {
            assetsFolder = conventional
        }
    }

    static func swiftFiles(in folder: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            .sorted { $0.path < $1.path }
    }

    /// Why `name` cannot be a Swift module name, or nil if it can. The rule `swiftlet new`
    /// states: ASCII letters, digits and underscores, not starting with a digit, and not a name
    /// an image already uses.
    public static func moduleNameProblem(_ name: String) -> String? {
        let rule = "a Swift module name uses only ASCII letters, digits and underscores, and does not start with a digit"
        guard let first = name.utf8.first else { return "the name is empty; \(rule)" }
        let valid = name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 < 0x80 && (isalnum(Int32($0)) != 0)) }
            && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        guard valid else {
            return "'\(name)' is not a valid Swift module name: \(rule) (for example \(moduleName(name)))"
        }
        let taken = ["Swiftlet", "SwiftletABI", "Swift", "_Concurrency", "main"]
        guard !taken.contains(name) else { return "'\(name)' is taken by a module every image links; choose another name" }
        return nil
    }

    /// A valid Swift module name from a folder or file name ("my-app" → "my_app").
    static func moduleName(_ text: String) -> String {
        var name = String(text.map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" ? $0 : "_" })
        if let first = name.first, first.isNumber { name = "_" + name }
        return name.isEmpty ? "app" : name
    }
}
