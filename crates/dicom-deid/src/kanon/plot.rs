//! Drawing of the partitions over two numeric QIs.
use std::path::Path;

use super::{KanonError, Release, Table};

/// Draws the classes of `release` as rectangles (the min-max box of each class's values of
/// columns `x` and `y`) over a scatter of the records, as a PNG of `width` x `height` pixels.
/// Both columns must be numeric; rows that are suppressed or not numeric are skipped. No
/// text is drawn (no fonts are needed).
pub fn plot_partitions(
    table: &Table,
    release: &Release,
    x: &str,
    y: &str,
    path: impl AsRef<Path>,
    size: (u32, u32),
) -> Result<(), KanonError> {
    use plotters::prelude::*;
    let (xc, yc) = (table.column_index(x)?, table.column_index(y)?);
    let num = |c: usize, r: usize| table.value(r, c).trim().parse::<f64>().ok();
    let mut pts = Vec::with_capacity(table.n_rows());
    for r in 0..table.n_rows() {
        if let (Some(a), Some(b)) = (num(xc, r), num(yc, r)) {
            pts.push((a, b, release.class_of(r)));
        }
    }
    if pts.is_empty() {
        return Err(KanonError::InvalidConfig(format!(
            "no row has numeric values in both {x} and {y}"
        )));
    }
    let fold = |f: fn(&(f64, f64, Option<usize>)) -> f64| {
        pts.iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x0, x1) = fold(|p| p.0);
    let (y0, y1) = fold(|p| p.1);
    let pad = |lo: f64, hi: f64| {
        let d = ((hi - lo) * 0.03).max(0.5);
        (lo - d, hi + d)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let mut boxes = vec![
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY
        );
        release.classes().len()
    ];
    for &(a, b, c) in &pts {
        if let Some(c) = c {
            let bx = &mut boxes[c];
            bx.0 = bx.0.min(a);
            bx.1 = bx.1.max(a);
            bx.2 = bx.2.min(b);
            bx.3 = bx.3.max(b);
        }
    }
    let path = path.as_ref();
    let perr = |e: &dyn std::fmt::Display| KanonError::Plot(format!("{}: {e}", path.display()));
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| perr(&e))?;
    chart
        .draw_series(pts.iter().map(|&(a, b, c)| {
            let col = if c.is_some() {
                RGBColor(60, 60, 60).mix(0.35)
            } else {
                RED.mix(0.8)
            };
            Circle::new((a, b), 1, col.filled())
        }))
        .map_err(|e| perr(&e))?;
    chart
        .draw_series(
            boxes
                .iter()
                .enumerate()
                .filter(|(_, b)| b.0.is_finite())
                .map(|(i, b)| {
                    let hue = (i as f64 * 0.618_033_988_75) % 1.0;
                    let col = HSLColor(hue, 0.8, 0.4);
                    Rectangle::new([(b.0, b.2), (b.1, b.3)], col.stroke_width(1))
                }),
        )
        .map_err(|e| perr(&e))?;
    // axes
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(x0, y0), (x1, y0)],
            BLACK,
        )))
        .map_err(|e| perr(&e))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(x0, y0), (x0, y1)],
            BLACK,
        )))
        .map_err(|e| perr(&e))?;
    root.present().map_err(|e| perr(&e))?;
    Ok(())
}
