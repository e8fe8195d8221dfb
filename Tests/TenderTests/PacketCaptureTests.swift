// --pcap: the file format byte for byte, and the capture's size limit.
// (No Foundation: importing it anywhere in this target changes what String.contains means in
// the other test files.)
import Glibc
import Testing
@testable import TenderCore

@Suite struct PacketCaptureTests {
    @Test func fileHeaderIsClassicPcapWithNanosecondsAndEthernet() {
        #expect(PcapFormat().fileHeader == [
            0x4D, 0x3C, 0xB2, 0xA1,   // magic 0xa1b23c4d, little-endian: nanosecond timestamps
            0x02, 0x00, 0x04, 0x00,   // version 2.4
            0x00, 0x00, 0x00, 0x00,   // thiszone
            0x00, 0x00, 0x00, 0x00,   // sigfigs
            0x00, 0x00, 0x04, 0x00,   // snaplen 262144 (frames with offload exceed 65535)
            0x01, 0x00, 0x00, 0x00,   // LINKTYPE_ETHERNET
        ])
    }

    @Test func recordHeaderCarriesTimeAndBothLengths() {
        let header = PcapFormat().recordHeader(seconds: 0x6570_1234, nanoseconds: 999_999_999, frameLength: 60)
        #expect(header == [
            0x34, 0x12, 0x70, 0x65,   // seconds
            0xFF, 0xC9, 0x9A, 0x3B,   // 999999999 ns
            0x3C, 0x00, 0x00, 0x00,   // stored 60
            0x3C, 0x00, 0x00, 0x00,   // on the wire 60
        ])
    }

    @Test func framesLongerThanTheSnapshotKeepTheirOriginalLength() {
        let format = PcapFormat(snapshotLength: 100)
        let header = format.recordHeader(seconds: 1, nanoseconds: 2, frameLength: 1514)
        #expect(Array(header[8..<12]) == [100, 0, 0, 0])
        #expect(Array(header[12..<16]) == [0xEA, 0x05, 0, 0])
        #expect(format.capturedLength(of: 1514) == 100)
        #expect(format.capturedLength(of: 60) == 60)
    }

    /// Frames until the limit, whole records only, then nothing; the file stays readable.
    @Test func captureStopsAtItsLimitWithWholeRecords() throws {
        let path = "/tmp/swiftlet-pcap-\(getpid()).pcap"
        defer { unlink(path) }
        let limit = 24 + 3 * (16 + 60) + 10      // room for three 60-byte frames, not four
        let capture = try PacketCapture(path: path, limit: limit)
        let frame = [UInt8](0..<60)
        for _ in 0..<5 { frame.withUnsafeBytes { capture.record($0) } }
        close(capture.fd)
        #expect(capture.framesRecorded == 3)
        #expect(capture.framesNotRecorded == 2)
        let bytes = try #require(Self.contents(of: path))
        #expect(bytes.count == 24 + 3 * 76)
        #expect(Array(bytes[0..<24]) == PcapFormat().fileHeader)
        for record in 0..<3 {
            let start = 24 + record * 76
            #expect(Array(bytes[start + 8 ..< start + 16]) == [60, 0, 0, 0, 60, 0, 0, 0])
            #expect(Array(bytes[start + 16 ..< start + 76]) == frame)
        }
        // The timestamps are now, in nanoseconds.
        let seconds = bytes[24..<28].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(abs(seconds - time(nil)) < 60)
    }

    static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fd, &chunk, chunk.count), count > 0 { bytes += chunk[..<count] }
        return bytes
    }

    @Test func unwritablePathOrTinyLimitIsRefused() {
        #expect(throws: TenderError.self) { try PacketCapture(path: "/nonexistent-folder/x.pcap") }
        #expect(throws: TenderError.self) { try PacketCapture(path: "/tmp", limit: 1 << 20) }
        let path = "/tmp/swiftlet-pcap-tiny-\(getpid()).pcap"
        defer { unlink(path) }
        #expect(throws: TenderError.self) { try PacketCapture(path: path, limit: 23) }
    }

    /// QEMU's stream (microseconds), fed in awkward pieces, comes back as frames with
    /// nanosecond times; a stream that is not pcap stops.
    @Test func streamReaderReassemblesRecordsFromPieces() {
        var stream: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0]
        let frames: [[UInt8]] = [[UInt8](repeating: 0xAB, count: 60), [1, 2, 3], []]
        for (index, frame) in frames.enumerated() {
            stream += [UInt8(index + 1), 0, 0, 0, 0x40, 0x42, 0x0F, 0]            // second N, 999,999 us + 1
            stream += [UInt8(frame.count), 0, 0, 0, UInt8(frame.count), 0, 0, 0]
            stream += frame
        }
        var reader = PcapStreamReader()
        var read: [PcapStreamReader.Frame] = []
        var offset = 0
        for size in [5, 20, 1, 17, 40, 1000] where offset < stream.count {
            let end = min(stream.count, offset + size)
            read += reader.feed(Array(stream[offset..<end]))
            offset = end
        }
        #expect(reader.failure == nil)
        #expect(read.map(\.bytes) == frames)
        #expect(read.map(\.seconds) == [1, 2, 3])
        #expect(read.allSatisfy { $0.nanoseconds == 1_000_000_000 })

        var wrong = PcapStreamReader()
        #expect(wrong.feed([UInt8](repeating: 0x11, count: 40)).isEmpty)
        #expect(wrong.failure == .notPcap)
    }

    @Test func tenderOptionsTakePcapLimitAndCore() throws {
        let options = try TenderOptions(arguments: ["--pcap", "out.pcap", "--pcap-limit", "2M", "--core", "/tmp", "image"])
        #expect(options.pcapPath == "out.pcap")
        #expect(options.pcapLimit == 2 << 20)
        #expect(options.coreDirectory == "/tmp")
        #expect(try TenderOptions(arguments: ["image"]).pcapLimit == PacketCapture.defaultLimit)
        #expect(throws: TenderError.self) { try TenderOptions(arguments: ["--pcap-limit", "lots", "image"]) }
        #expect(throws: TenderError.self) { try TenderOptions(arguments: ["--pcap"]) }
    }
}
