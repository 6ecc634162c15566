//! One address the book knows: what peers told us about it, what we saw of it ourselves, how it
//! is judged (Core's `AddrInfo::IsTerrible` and `GetChance` in addrman.cpp), and its stored
//! form (the record key and value of [`super::record`]).

use std::time::Duration;

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;

use super::netgroup::NetGroup;
use super::record::AddrRecord;

/// An address not seen for this long is terrible (Core's `ADDRMAN_HORIZON`, 30 days).
pub const HORIZON: Duration = Duration::from_secs(30 * 24 * 3600);
/// Failed attempts after which a never-successful address is terrible (Core's `ADDRMAN_RETRIES`).
pub const RETRIES: u32 = 3;
/// Failed attempts after which an address without a success for [`MIN_FAIL`] is terrible
/// (Core's `ADDRMAN_MAX_FAILURES`).
pub const MAX_FAILURES: u32 = 10;
/// See [`MAX_FAILURES`] (Core's `ADDRMAN_MIN_FAIL`, 7 days).
pub const MIN_FAIL: Duration = Duration::from_secs(7 * 24 * 3600);
/// An address tried this recently is never terrible, so it is not replaced while we still
/// wait for the dial (Core: "never remove things tried in the last minute").
pub const RECENT_TRY: Duration = Duration::from_secs(60);
/// Claimed times further ahead than this are lies (Core: "came in a flying DeLorean").
pub const FUTURE_SLACK: Duration = Duration::from_secs(10 * 60);
/// Attempts within this long make an address 100 times less likely to be picked again
/// (Core's `GetChance`).
pub const RETRY_DAMPING: Duration = Duration::from_secs(10 * 60);
/// Each failed attempt multiplies the chance by this, for at most [`MAX_DAMPED_ATTEMPTS`]
/// attempts (Core's `GetChance`: `pow(0.66, std::min(nAttempts, 8))`).
pub const ATTEMPT_DAMPING: f64 = 0.66;
/// See [`ATTEMPT_DAMPING`].
pub const MAX_DAMPED_ATTEMPTS: u32 = 8;

/// The encoding version of a stored value; a value of another version is skipped at load.
pub const VALUE_VERSION: u8 = 1;

/// What the book holds about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The address (canonical: IPv4-mapped IPv6 is IPv4).
    pub addr: AddrV2,
    /// Its port.
    pub port: u16,
    /// The services it was announced with, or-ed over every announcement.
    pub services: ServiceFlags,
    /// When it was last seen on the network, in Unix seconds, as peers claimed (Core's `nTime`).
    pub time: u32,
    /// Our last dial attempt, Unix seconds (0: never).
    pub last_try: u64,
    /// Our last successful handshake, Unix seconds (0: never).
    pub last_success: u64,
    /// The last attempt that counted as a failure, Unix seconds (Core's `m_last_count_attempt`).
    pub last_count_attempt: u64,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// The network group of the peer that told us about it: the new-table bucket follows it.
    pub source_group: NetGroup,
    /// Whether it is in the tried table (else in one or more new-table buckets).
    pub in_tried: bool,
    /// How many new-table slots refer to it (Core's `nRefCount`); 0 while in tried.
    pub refs: u8,
}

impl Entry {
    /// Core's `AddrInfo::IsTerrible`: an address so stale or so often failed that it may be
    /// overwritten, is not gossiped, and expires.
    pub fn is_terrible(&self, now_secs: u64) -> bool {
        if self.last_try != 0 && now_secs.saturating_sub(self.last_try) <= RECENT_TRY.as_secs() {
            return false;
        }
        let time = u64::from(self.time);
        if time > now_secs + FUTURE_SLACK.as_secs() {
            return true;
        }
        if self.time == 0 || now_secs.saturating_sub(time) > HORIZON.as_secs() {
            return true;
        }
        if self.last_success == 0 && self.attempts >= RETRIES {
            return true;
        }
        now_secs.saturating_sub(self.last_success) > MIN_FAIL.as_secs()
            && self.attempts >= MAX_FAILURES
    }

    /// Core's `AddrInfo::GetChance`: the relative chance of picking it when its slot comes up.
    pub fn chance(&self, now_secs: u64) -> f64 {
        let mut chance = 1.0;
        if self.last_try != 0 && now_secs.saturating_sub(self.last_try) < RETRY_DAMPING.as_secs() {
            chance *= 0.01;
        }
        let damped = self.attempts.min(MAX_DAMPED_ATTEMPTS);
        chance * ATTEMPT_DAMPING.powi(damped as i32)
    }

    /// The stored form.
    pub fn to_record(&self) -> AddrRecord {
        let mut value = Vec::with_capacity(48);
        value.push(VALUE_VERSION);
        value.extend_from_slice(&self.services.to_u64().to_le_bytes());
        value.extend_from_slice(&self.time.to_le_bytes());
        value.extend_from_slice(&self.last_try.to_le_bytes());
        value.extend_from_slice(&self.last_success.to_le_bytes());
        value.extend_from_slice(&self.last_count_attempt.to_le_bytes());
        value.extend_from_slice(&self.attempts.to_le_bytes());
        value.push(u8::from(self.in_tried));
        let group = self.source_group.as_bytes();
        value.push(group.len() as u8);
        value.extend_from_slice(group);
        AddrRecord {
            key: address_key(&self.addr, self.port),
            value,
        }
    }

    /// An entry from its stored form, `None` if the record is not one this version wrote
    /// (the book skips it with a warning). `refs` is left 0: placing it sets it.
    pub fn from_record(record: &AddrRecord) -> Option<Entry> {
        let (addr, port) = parse_address_key(&record.key)?;
        let mut r = Reader(&record.value);
        if r.u8()? != VALUE_VERSION {
            return None;
        }
        let services = ServiceFlags::from(r.u64()?);
        let time = r.u32()?;
        let last_try = r.u64()?;
        let last_success = r.u64()?;
        let last_count_attempt = r.u64()?;
        let attempts = r.u32()?;
        let in_tried = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let len = usize::from(r.u8()?);
        let source_group = NetGroup::from_bytes(r.bytes(len)?)?;
        if !r.0.is_empty() {
            return None;
        }
        Some(Entry {
            addr,
            port,
            services,
            time,
            last_try,
            last_success,
            last_count_attempt,
            attempts,
            source_group,
            in_tried,
            refs: 0,
        })
    }
}

/// The address as a record key and book key: BIP155 network id, the address bytes, the port
/// (big-endian, as on the wire).
pub fn address_key(addr: &AddrV2, port: u16) -> Vec<u8> {
    let (id, bytes): (u8, Vec<u8>) = match addr {
        AddrV2::Ipv4(ip) => (1, ip.octets().to_vec()),
        AddrV2::Ipv6(ip) => (2, ip.octets().to_vec()),
        AddrV2::TorV2(b) => (3, b.to_vec()),
        AddrV2::TorV3(b) => (4, b.to_vec()),
        AddrV2::I2p(b) => (5, b.to_vec()),
        AddrV2::Cjdns(ip) => (6, ip.octets().to_vec()),
        AddrV2::Unknown(id, b) => (*id, b.clone()),
    };
    let mut key = Vec::with_capacity(bytes.len() + 3);
    key.push(id);
    key.extend_from_slice(&bytes);
    key.extend_from_slice(&port.to_be_bytes());
    key
}

/// The inverse of [`address_key`] for the networks the book keeps (BIP155 ids 1, 2, 4, 5, 6);
/// `None` for anything else.
pub fn parse_address_key(key: &[u8]) -> Option<(AddrV2, u16)> {
    let (&id, rest) = key.split_first()?;
    if rest.len() < 2 {
        return None;
    }
    let (bytes, port) = rest.split_at(rest.len() - 2);
    let port = u16::from_be_bytes([port[0], port[1]]);
    let addr = match (id, bytes.len()) {
        (1, 4) => AddrV2::Ipv4(<[u8; 4]>::try_from(bytes).ok()?.into()),
        (2, 16) => AddrV2::Ipv6(<[u8; 16]>::try_from(bytes).ok()?.into()),
        (4, 32) => AddrV2::TorV3(bytes.try_into().ok()?),
        (5, 32) => AddrV2::I2p(bytes.try_into().ok()?),
        (6, 16) => AddrV2::Cjdns(<[u8; 16]>::try_from(bytes).ok()?.into()),
        _ => return None,
    };
    Some((addr, port))
}

/// Reads little-endian fields off a stored value, `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}
