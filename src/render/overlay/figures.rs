//! The figures a tour shows in the side panel, drawn with egui_plot.

use bevy_egui::egui::{self, Color32};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use crate::explain::gelu;
use crate::tour::Figure;

/// The GELU curve, in the activations' green; ReLU dashed in orange, which the two curves share
/// for large x, so both stay seen where they overlap.
const GELU_COLOUR: Color32 = Color32::from_rgb(60, 140, 60);
const RELU_COLOUR: Color32 = Color32::from_rgb(215, 110, 30);

/// How many points each curve is drawn with over −4..4: smooth at the panel's width.
const SAMPLES: usize = 161;

pub fn figure_ui(ui: &mut egui::Ui, figure: Figure) {
    match figure {
        Figure::GeluVsRelu => gelu_vs_relu(ui),
    }
}

/// The two functions over x in −4..4, where nano-gpt's MLP inputs mostly lie.
fn curve(function: impl Fn(f32) -> f32) -> Vec<[f64; 2]> {
    (0..SAMPLES)
        .map(|i| {
            let x = -4.0 + 8.0 * i as f32 / (SAMPLES - 1) as f32;
            [x as f64, function(x) as f64]
        })
        .collect()
}

fn gelu_vs_relu(ui: &mut egui::Ui) {
    Plot::new("gelu vs relu")
        .height(170.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .data_aspect(1.0)
        .show(ui, |plot| {
            plot.line(Line::new("GELU", PlotPoints::from(curve(gelu))).color(GELU_COLOUR).width(2.5));
            let relu = Line::new("ReLU: max(0, x)", PlotPoints::from(curve(|x| x.max(0.0))));
            plot.line(relu.color(RELU_COLOUR).width(2.0).style(LineStyle::dashed_loose()));
        });
}
