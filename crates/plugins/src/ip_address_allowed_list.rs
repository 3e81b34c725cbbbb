//! 403 for a client address outside the list (an empty list lets nobody
//! through, as in Otoroshi).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::ip_list::{self, AddressesConfig, IpList};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.IpAddressAllowedList",
    name: "IP allowed list",
    description: "Answers 403 unless the client address is in `addresses` (IPs, CIDR ranges, `10.1.*.*` wildcards).",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<AddressesConfig>,
    config_schema: config::schema::<AddressesConfig>,
};

struct IpAddressAllowedList(IpList);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: AddressesConfig = config::parse(value)?;
    Ok(Arc::new(IpAddressAllowedList(IpList::parse(
        &config.addresses,
    )?)))
}

impl Plugin for IpAddressAllowedList {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        if self.0.contains(request.client_ip) {
            Flow::Continue
        } else {
            Flow::Answer(ip_list::refusal())
        }
    }
}
