// What `swiftlet build PATH` compiles: a package folder (Sources/NAME/*.swift), a folder of
// Swift files, or a single Swift file.
import Foundation

public struct Application: Equatable, Sendable {
    public let name: String
    public let root: URL
    public let sources: [URL]

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
    }

    static func swiftFiles(in folder: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            .sorted { $0.path < $1.path }
    }

    /// A valid Swift module name from a folder or file name ("my-app" → "my_app").
    static func moduleName(_ text: String) -> String {
        var name = String(text.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        if let first = name.first, first.isNumber { name = "_" + name }
        return name.isEmpty ? "app" : name
    }
}
