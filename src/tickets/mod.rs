//! The work-order (工单) core: model, lifecycle, SLA and working calendar, dispatch, knowledge base.
