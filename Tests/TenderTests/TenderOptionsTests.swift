// The tenders' command line: [--mem SIZE] IMAGE [--] [GUEST ARGS...].
import SwiftletABI
import Testing
@testable import TenderCore

/// The usage message thrown for `arguments`, or nil if they parsed (or failed another way).
private func usageMessage(_ arguments: [String]) -> String? {
    do {
        _ = try TenderOptions(arguments: arguments)
        return nil
    } catch {
        if case .usage(let message) = error { return message }
        return nil
    }
}

private func sizeMessage(_ text: String) -> String? {
    do {
        _ = try OptionValue.memorySize(text)
        return nil
    } catch {
        return error.message
    }
}

@Suite struct TenderOptionsTests {
    @Test func memoryImageAndGuestArguments() throws {
        let options = try TenderOptions(arguments: ["--mem", "64M", "hello.swiftlet", "--", "a", "b"])
        #expect(options.imagePath == "hello.swiftlet")
        #expect(options.memorySize == 64 << 20)
        #expect(options.guestArguments == ["a", "b"])
        #expect(!options.seccompSelfTest)
    }

    @Test func gracePeriodDefaultsToTenSecondsAndTakesWholeSeconds() throws {
        #expect(try TenderOptions(arguments: ["hello.swiftlet"]).gracePeriodSeconds == 10)
        let options = try TenderOptions(arguments: ["--grace-period", "0", "hello.swiftlet", "--grace-period", "5"])
        #expect(options.gracePeriodSeconds == 0)
        #expect(options.guestArguments == ["--grace-period", "5"], "after the image, it is the guest's")
        #expect(try TenderOptions(arguments: ["--grace-period", "3600", "x"]).gracePeriodSeconds == 3600)
        for bad in ["3601", "-1", "1.5", "10s", "", "4294967296"] {
            let message = usageMessage(["--grace-period", bad, "hello.swiftlet"])
            #expect(message?.contains("whole number of seconds from 0 to 3600") == true, "\(bad): \(message ?? "accepted")")
        }
        #expect(usageMessage(["--grace-period"])?.contains("--grace-period needs a number of seconds") == true)
    }

    @Test func guestArgumentsWithoutDoubleDash() throws {
        let options = try TenderOptions(arguments: ["img", "a", "b"])
        #expect(options.imagePath == "img")
        #expect(options.guestArguments == ["a", "b"])
        #expect(options.memorySize == 32 << 20) // the default
    }

    @Test func optionsAfterTheImageBelongToTheGuest() throws {
        let options = try TenderOptions(arguments: ["img", "--mem", "8M", "-x", "--help", "--seccomp-self-test"])
        #expect(options.imagePath == "img")
        #expect(options.memorySize == 32 << 20)
        #expect(options.guestArguments == ["--mem", "8M", "-x", "--help", "--seccomp-self-test"])
        #expect(!options.seccompSelfTest)
    }

    @Test func onlyTheFirstDoubleDashIsConsumed() throws {
        let options = try TenderOptions(arguments: ["img", "--", "--", "x"])
        #expect(options.guestArguments == ["--", "x"])
        let empty = try TenderOptions(arguments: ["img", "--"])
        #expect(empty.guestArguments.isEmpty)
        let none = try TenderOptions(arguments: ["img"])
        #expect(none.guestArguments.isEmpty)
    }

    @Test func shortMemoryOption() throws {
        let options = try TenderOptions(arguments: ["-m", "1G", "img"])
        #expect(options.memorySize == 1 << 30)
        #expect(options.imagePath == "img")
    }

    @Test func lastMemoryOptionWins() throws {
        let options = try TenderOptions(arguments: ["--mem", "8M", "-m", "16M", "img"])
        #expect(options.memorySize == 16 << 20)
    }

    @Test func seccompSelfTestFlag() throws {
        let options = try TenderOptions(arguments: ["--seccomp-self-test", "img"])
        #expect(options.seccompSelfTest)
    }

    static let mib: UInt64 = 1 << 20
    static let validSizeCases: [(String, UInt64)] = [
        ("2M", 2 * mib), ("2048K", 2 * mib), ("4M", 4 * mib), ("4m", 4 * mib), ("4096K", 4 * mib), ("4096k", 4 * mib),
        ("4194304", 4 * mib), ("6M", 6 * mib), ("64M", 64 * mib), ("1G", 1024 * mib), ("1g", 1024 * mib),
        ("4G", 4096 * mib), ("4096M", 4096 * mib), ("2048M", 2048 * mib),
    ]

    @Test(arguments: validSizeCases)
    func validSizes(text: String, bytes: UInt64) throws {
        #expect(try OptionValue.memorySize(text) == bytes)
        #expect(try TenderOptions(arguments: ["--mem", text, "img"]).memorySize == bytes)
    }

    @Test(arguments: [
        "0", "0M", "1M", "3M", "5M", "1K", "4194305", "5G", "8G", "4097M", "abc", "", "M", "G", "K",
        "-4M", "4.5M", "4 M", " 4M", "4MB", "4T", "0x400000", "99999999999999999999G",
        "99999999999999999999", "17179869184G", "18446744073709551615", "18446744073709551616",
    ])
    func invalidSizesAreUsageErrors(text: String) throws {
        let direct = try #require(sizeMessage(text), "'\(text)' was accepted")
        #expect(!direct.isEmpty)
        // Foundation's contains(_:) never finds the empty string; an empty size shows as ''.
        #expect(text.isEmpty ? direct.contains("''") : direct.contains(text), "message does not name the size: \(direct)")
        let fromCommandLine = try #require(usageMessage(["--mem", text, "img"]))
        #expect(fromCommandLine == direct)
    }

    @Test func sizeMessagesSayWhatIsWrong() throws {
        #expect(try #require(sizeMessage("5M")).contains("2M"))          // alignment
        #expect(try #require(sizeMessage("4098M")).contains("4G"))       // range before alignment
        #expect(try #require(sizeMessage("5G")).contains("4G"))          // range
        #expect(try #require(sizeMessage("0")).contains("2M...4G"))      // range
        let notANumber = try #require(sizeMessage("abc"))
        #expect(notANumber.contains("64M") || notANumber.contains("1G")) // an example of a valid size
        let overflow = try #require(sizeMessage("99999999999999999999G"))
        #expect(!overflow.isEmpty)
    }

    @Test func missingImage() throws {
        for arguments in [[], ["--mem", "64M"], ["--seccomp-self-test"], ["-m", "8M", "--seccomp-self-test"]] {
            let message = try #require(usageMessage(arguments), "\(arguments)")
            #expect(message.contains("image"), "\(message)")
            #expect(message.contains("usage"))
        }
    }

    @Test func memoryOptionWithoutValue() throws {
        for option in ["--mem", "-m"] {
            let message = try #require(usageMessage([option]))
            #expect(message.contains("size"))
        }
    }

    @Test func unknownOptions() throws {
        for option in ["--frobnicate", "-x", "--memory", "-M", "---", "--"] {
            let message = try #require(usageMessage([option, "img"]), "\(option) was accepted")
            #expect(message.contains(option), "\(message)")
            #expect(message.contains("usage"))
        }
    }

    @Test func helpIsAUsageError() throws {
        for option in ["--help", "-h"] {
            let message = try #require(usageMessage([option]))
            #expect(message == TenderOptions.usage)
        }
    }

    @Test func dashAloneIsAnImagePath() throws {
        let options = try TenderOptions(arguments: ["-", "x"])
        #expect(options.imagePath == "-")
        #expect(options.guestArguments == ["x"])
    }
}

@Suite struct ConfinementTests {
    /// READ_IMPLIES_EXEC makes every readable mapping executable (guest data included).
    @Test func readImpliesExecPersonalityIsRefused() {
        #expect(throws: Never.self) { try Confinement.refuseReadImpliesExec(personality: 0) }
        #expect(throws: Never.self) { try Confinement.refuseReadImpliesExec(personality: 0x0004_0000) }  // ADDR_NO_RANDOMIZE
        do {
            try Confinement.refuseReadImpliesExec(personality: 0x0040_0000)    // READ_IMPLIES_EXEC
            Issue.record("READ_IMPLIES_EXEC was accepted")
        } catch {
            #expect(error.description.contains("READ_IMPLIES_EXEC"))
        }
    }
}
