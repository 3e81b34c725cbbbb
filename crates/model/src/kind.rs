/// The entity kinds the admin API serves. Each carries its Otoroshi names so
/// that the legacy paths, the generic `/apis/{group}/{version}/{plural}` paths,
/// `/apis/entities` and the export all come from this one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Route,
    ApiKey,
    ServiceGroup,
    GlobalConfig,
    Certificate,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Route,
        Kind::ApiKey,
        Kind::ServiceGroup,
        Kind::GlobalConfig,
        Kind::Certificate,
    ];

    /// Name under which the store keeps this kind. Part of the stored schema:
    /// never rename.
    pub fn store_key(self) -> &'static str {
        match self {
            Kind::Route => "routes",
            Kind::ApiKey => "apikeys",
            Kind::ServiceGroup => "service-groups",
            Kind::GlobalConfig => "global-configs",
            Kind::Certificate => "certificates",
        }
    }

    /// Otoroshi's resource kind name, as in `/apis/entities`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Route => "Route",
            // Otoroshi's spelling; `accepts_name` takes `ApiKey` too.
            Kind::ApiKey => "Apikey",
            Kind::ServiceGroup => "ServiceGroup",
            Kind::GlobalConfig => "GlobalConfig",
            Kind::Certificate => "Certificate",
        }
    }

    /// Whether a resource's `kind` names this kind: case-insensitive, so
    /// that both Otoroshi's `Apikey` and `ApiKey` are understood.
    pub fn accepts_name(self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name)
    }

    pub fn group(self) -> &'static str {
        match self {
            Kind::Route => "proxy.otoroshi.io",
            Kind::ApiKey => "apim.otoroshi.io",
            Kind::ServiceGroup => "organize.otoroshi.io",
            Kind::GlobalConfig => "config.otoroshi.io",
            Kind::Certificate => "pki.otoroshi.io",
        }
    }

    pub fn version(self) -> &'static str {
        "v1"
    }

    pub fn plural(self) -> &'static str {
        self.store_key()
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Route => "route",
            Kind::ApiKey => "apikey",
            Kind::ServiceGroup => "service-group",
            Kind::GlobalConfig => "global-config",
            Kind::Certificate => "certificate",
        }
    }

    /// The legacy `/api/...` collection path segment, where Otoroshi has one.
    pub fn legacy_segment(self) -> &'static str {
        match self {
            Kind::Route => "routes",
            Kind::ApiKey => "apikeys",
            Kind::ServiceGroup => "groups",
            Kind::GlobalConfig => "globalconfig",
            Kind::Certificate => "certificates",
        }
    }

    /// The JSON field that holds the id.
    pub fn id_field(self) -> &'static str {
        match self {
            Kind::ApiKey => "clientId",
            _ => "id",
        }
    }

    /// Key of this kind's array in `/api/otoroshi.json` (the global config is
    /// the single object under `config`).
    pub fn export_key(self) -> &'static str {
        match self {
            Kind::Route => "routes",
            Kind::ApiKey => "apiKeys",
            Kind::ServiceGroup => "serviceGroups",
            Kind::GlobalConfig => "config",
            Kind::Certificate => "certificates",
        }
    }

    /// The prefix of the entity id used in `authorizedEntities` and logs.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Route => "route",
            Kind::ApiKey => "apikey",
            Kind::ServiceGroup => "group",
            Kind::GlobalConfig => "global",
            Kind::Certificate => "cert",
        }
    }

    pub fn from_api_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.version() == version && k.plural() == plural)
    }

    pub fn from_legacy_segment(segment: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.legacy_segment() == segment)
    }
}
