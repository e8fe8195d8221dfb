// Which tender runs an image: the one asked for if the image allows it; otherwise hvt where KVM
// is usable and the image allows it, else spt. A choice that is not the usual one is said aloud.
public enum TargetChoice {
    public static func choose(image: String, imageTargets: [Target], requested: Target?,
                              kvmProblem: String?) throws(Refusal) -> (target: Target, notice: String?) {
        let allowed = imageTargets.map { $0.rawValue }.joined(separator: " and ")
        guard let preferred = imageTargets.first else {
            throw Refusal("\(image) names no target it may run on; rebuild it with `swiftlet build`")
        }
        if let requested {
            guard imageTargets.contains(requested) else {
                throw Refusal("\(image) is built for \(allowed) only, not \(requested.rawValue); run it with --target \(preferred.rawValue) (or without --target), or rebuild it with `swiftlet build --target all`")
            }
            return (requested, nil)
        }
        if imageTargets == [.spt] {
            return (.spt, "\(image) is built for spt only; running it on spt")
        }
        guard let kvmProblem else { return (.hvt, nil) }
        guard imageTargets.contains(.spt) else {
            throw Refusal("\(image) is built for hvt only, and \(kvmProblem); rebuild it with `swiftlet build --target all` to run it on spt")
        }
        return (.spt, "/dev/kvm is not usable here; running on spt (a seccomp-confined process) instead")
    }
}
