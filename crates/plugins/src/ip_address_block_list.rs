//! 403 for a client address in the list.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, ConfigError};
use crate::context::{Flow, Plugin, RequestCtx};
use crate::ip_list::{self, AddressesConfig, IpList};
use crate::registry::Descriptor;
use crate::step::Step;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "cp:otoroshi.next.plugins.IpAddressBlockList",
    name: "IP block list",
    description: "Answers 403 when the client address is in `addresses` (IPs, CIDR ranges, `10.1.*.*` wildcards).",
    steps: &[Step::ValidateAccess],
    build,
    default_config: config::defaults::<AddressesConfig>,
    config_schema: config::schema::<AddressesConfig>,
};

struct IpAddressBlockList(IpList);

fn build(value: &Value) -> Result<Arc<dyn Plugin>, Vec<ConfigError>> {
    let config: AddressesConfig = config::parse(value)?;
    Ok(Arc::new(IpAddressBlockList(IpList::parse(
        &config.addresses,
    )?)))
}

impl Plugin for IpAddressBlockList {
    fn validate_access(&self, request: &mut RequestCtx<'_>) -> Flow {
        if self.0.contains(request.client_ip) {
            Flow::Answer(ip_list::refusal())
        } else {
            Flow::Continue
        }
    }
}
