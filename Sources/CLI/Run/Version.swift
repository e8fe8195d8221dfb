// What `swiftlet --version` reports, besides the toolchain it finds.
import SwiftletABI

public enum SwiftletVersion {
    public static let version = "0.9.0"
    /// The image ABI this swiftlet's tenders speak (Sources/ABI/include/swiftlet_abi.h).
    public static let abi = SWIFTLET_ABI_VERSION
}
