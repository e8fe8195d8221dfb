// A test guest that prints what the guest's random generator gives it, so a test can check
// that every boot draws fresh numbers (the generator is keyed from the tender's seed).
import Swiftlet

var generator = SystemRandomNumberGenerator()
print("random: \(generator.next()) \(generator.next())")
