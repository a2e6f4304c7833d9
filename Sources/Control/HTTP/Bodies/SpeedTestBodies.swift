import Foundation

/// What the speed test's upload sink read.
struct SpeedUploadResponse: APIBody {
    static var schema: ObjectSchema { Schemas.speedUpload }

    /// Bytes the server read.
    let bytes: Int
    /// From the handler's start (headers read) to the last byte.
    let durationMS: Double
    /// From the first body byte to the last.
    let readMS: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bytes
        case durationMS = "duration_ms"
        case readMS = "read_ms"
    }
}
