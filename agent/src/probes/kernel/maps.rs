//! Taking maps out of the loaded object and reading per-CPU hashes, with errors that name the map.

use std::{collections::HashMap, hash::Hash};

use aya::{
    Pod,
    maps::{Map, MapData, MapError, PerCpuHashMap},
};

use super::object::Object;
use crate::probes::error::ProbeError;

/// Takes map `name` out of the object (it can be taken once).
pub fn take_map(obj: &mut Object, name: &'static str) -> Result<Map, ProbeError> {
    obj.take_map(name)
        .ok_or(ProbeError::MapMissing { map: name })
}

/// Takes map `name` as the map type `M`.
pub fn take_typed<M>(obj: &mut Object, name: &'static str) -> Result<M, ProbeError>
where
    M: TryFrom<Map, Error = MapError>,
{
    M::try_from(take_map(obj, name)?).map_err(|source| ProbeError::MapType { map: name, source })
}

/// Every entry of per-CPU hash `name`: key → value per CPU.
pub fn read_percpu_hash<K: Pod + Eq + Hash, V: Pod>(
    map: &PerCpuHashMap<MapData, K, V>,
    name: &'static str,
) -> Result<HashMap<K, Vec<V>>, ProbeError> {
    map.iter()
        .map(|r| {
            r.map(|(k, v)| (k, v.to_vec()))
                .map_err(|e| ProbeError::read(name, None, false, e))
        })
        .collect()
}
