import Foundation

// Bodies of the organisation unit routes.

/// `Schemas.ou`. `parent_id` is always sent, null for a top-level unit.
struct OUBody: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.ou }

    var id: Int64
    @ExplicitNull var parentID: Int64?
    var name: String
    var description: String
    var createdAt: APITimestamp

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case parentID = "parent_id"
        case name
        case description
        case createdAt = "created_at"
    }
}

extension OUBody {
    init(_ unit: OrganizationUnit) {
        self.init(id: unit.id, parentID: unit.parentID, name: unit.name, description: unit.description,
                  createdAt: APITimestamp(millis: unit.createdAt))
    }
}

/// `Schemas.ouList`.
struct OUList: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.ouList }

    var organizationUnits: [OUBody]

    init(_ organizationUnits: [OUBody]) { self.organizationUnits = organizationUnits }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case organizationUnits = "organization_units"
    }
}

/// A unit of `Schemas.ouTree`: the fields of `Schemas.ou` plus its `children`.
struct OUTreeNode: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.ouTreeNode }

    var id: Int64
    @ExplicitNull var parentID: Int64?
    var name: String
    var description: String
    var createdAt: APITimestamp
    var children: [OUTreeNode]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case parentID = "parent_id"
        case name
        case description
        case createdAt = "created_at"
        case children
    }
}

extension OUTreeNode {
    /// `unit` and, recursively, its children (`childrenOf`: units by parent id).
    init(_ unit: OrganizationUnit, childrenOf: [Int64: [OrganizationUnit]]) {
        let children = (childrenOf[unit.id] ?? []).map { OUTreeNode($0, childrenOf: childrenOf) }
        self.init(id: unit.id, parentID: unit.parentID, name: unit.name, description: unit.description,
                  createdAt: APITimestamp(millis: unit.createdAt), children: children)
    }
}

/// `Schemas.ouTree`.
struct OUTree: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.ouTree }

    var roots: [OUTreeNode]

    init(roots: [OUTreeNode]) { self.roots = roots }

    /// The forest of `units` (in their order): a unit whose parent is not among them is a root.
    init(units: [OrganizationUnit]) {
        let ids = Set(units.map(\.id))
        var childrenOf: [Int64: [OrganizationUnit]] = [:]
        for unit in units {
            if let parent = unit.parentID, ids.contains(parent) { childrenOf[parent, default: []].append(unit) }
        }
        let tree = childrenOf
        roots = units.filter { $0.parentID.map { !ids.contains($0) } ?? true }.map { OUTreeNode($0, childrenOf: tree) }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case roots
    }
}

/// `Schemas.createOU`.
struct CreateOURequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.createOU }

    var name: String
    /// Default "".
    var description: String?
    /// None: a top-level unit (global administrators only).
    var parentID: Int64?

    init(name: String, description: String? = nil, parentID: Int64? = nil) {
        self.name = name
        self.description = description
        self.parentID = parentID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case description
        case parentID = "parent_id"
    }
}

/// `Schemas.updateOU`: a partial update. `parent_id` tells "left out" from "null: make it a
/// top-level unit" (`Patch`).
struct UpdateOURequest: APIBody, Equatable {
    static var schema: ObjectSchema { Schemas.updateOU }

    var name: String? = nil
    var description: String? = nil
    var parentID: Patch<Int64> = .absent

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case description
        case parentID = "parent_id"
    }
}

extension UpdateOURequest {
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        parentID = try container.decodePatch(Int64.self, forKey: .parentID)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodePatch(parentID, forKey: .parentID)
    }
}
