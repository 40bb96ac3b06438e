//! Demand classes after Syntetos and Boylan (2005): the average demand
//! interval (ADI, periods per demand) and the squared coefficient of
//! variation of the non-zero sizes (CV², population variance), cut at
//! 1.32 and 0.49.
//!
//! | class | ADI | CV² | method | why |
//! |---|---|---|---|---|
//! | smooth | < 1.32 | < 0.49 | `ses-optimized` | regular demand: a level, its alpha fitted |
//! | erratic | < 1.32 | ≥ 0.49 | `croston-sba` | the SBC scheme (Syntetos, Boylan, Croston 2005) |
//! | intermittent | ≥ 1.32 | < 0.49 | `croston-sba` | the SBC scheme |
//! | lumpy | ≥ 1.32 | ≥ 0.49 | `tsb` (0.1, 0.1) | lumpy demand often dies out; TSB lowers its forecast every period without demand, SBA does not |
//! | none | no demand | | `croston-sba` | forecasts 0 |

use serde::Serialize;

use crate::intermittent::mean_interval;
use crate::Method;

/// The ADI at and above which demand is intermittent.
pub const ADI_CUT: f64 = 1.32;
/// The CV² at and above which demand sizes are erratic.
pub const CV2_CUT: f64 = 0.49;

/// A series' demand class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandClass {
    /// Regular in timing and size.
    Smooth,
    /// Regular in timing, variable in size.
    Erratic,
    /// Irregular in timing, regular in size.
    Intermittent,
    /// Irregular in timing and size.
    Lumpy,
    /// No demand at all.
    None,
}

/// How a series was classed, and on what figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Classification {
    /// The class.
    pub class: DemandClass,
    /// Average demand interval, in periods.
    pub adi: f64,
    /// Squared coefficient of variation of the non-zero sizes.
    pub cv2: f64,
    /// Periods with demand.
    pub demands: usize,
}

impl Classification {
    /// The method the class calls for.
    pub fn method(&self) -> Method {
        match self.class {
            DemandClass::Smooth => Method::SesOptimized,
            DemandClass::Erratic | DemandClass::Intermittent | DemandClass::None => {
                Method::CrostonSba
            }
            DemandClass::Lumpy => Method::Tsb {
                alpha_d: Method::DEFAULT_ALPHA,
                alpha_p: Method::DEFAULT_ALPHA,
            },
        }
    }
}

/// Classes `demand` (one value per period, oldest first).
pub fn classify(demand: &[f64]) -> Classification {
    let sizes: Vec<f64> = demand.iter().copied().filter(|v| *v > 0.0).collect();
    let adi = mean_interval(demand);
    if sizes.is_empty() {
        return Classification {
            class: DemandClass::None,
            adi,
            cv2: 0.0,
            demands: 0,
        };
    }
    let n = sizes.len() as f64;
    let mean = sizes.iter().sum::<f64>() / n;
    let variance = sizes.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / n;
    let cv2 = variance / (mean * mean);
    let class = match (adi >= ADI_CUT, cv2 >= CV2_CUT) {
        (false, false) => DemandClass::Smooth,
        (false, true) => DemandClass::Erratic,
        (true, false) => DemandClass::Intermittent,
        (true, true) => DemandClass::Lumpy,
    };
    Classification {
        class,
        adi,
        cv2,
        demands: sizes.len(),
    }
}
