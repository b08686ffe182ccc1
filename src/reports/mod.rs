//! Reports: KPIs and exports.
