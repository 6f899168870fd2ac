//! Deterministic test images for the compare tests: a seeded PRNG and a tiny rasterizer that
//! draws anti-aliased discs, rectangles and strokes (4x4 supersampling) over flat, gradient or
//! noise backgrounds, with or without transparency. No external data: the same seed gives the
//! same bytes on every machine.

#![allow(dead_code)]

/// SplitMix64: small, fast, good enough to make test images.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// The numbers in 0..n, each kept with probability `p`.
    pub fn sample(&mut self, n: usize, p: f64) -> Vec<usize> {
        (0..n).filter(|_| self.chance(p)).collect()
    }

    pub fn color(&mut self, opaque: bool) -> [u8; 4] {
        [self.byte(), self.byte(), self.byte(), if opaque { 255 } else { self.byte() }]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Disc {
        cx: f64,
        cy: f64,
        r: f64,
    },
    Rect {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    },
    /// A stroke of half-width `hw` from (x0, y0) to (x1, y1).
    Stroke {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        hw: f64,
    },
}

impl Shape {
    fn contains(&self, x: f64, y: f64) -> bool {
        match *self {
            Shape::Disc { cx, cy, r } => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x < x1 && y >= y0 && y < y1,
            Shape::Stroke { x0, y0, x1, y1, hw } => {
                let (vx, vy) = (x1 - x0, y1 - y0);
                let len2 = vx * vx + vy * vy;
                let t = if len2 == 0.0 { 0.0 } else { (((x - x0) * vx + (y - y0) * vy) / len2).clamp(0.0, 1.0) };
                let (px, py) = (x0 + t * vx, y0 + t * vy);
                (x - px).powi(2) + (y - py).powi(2) <= hw * hw
            }
        }
    }

    /// The same shape moved by (dx, dy).
    pub fn moved(&self, dx: f64, dy: f64) -> Shape {
        match *self {
            Shape::Disc { cx, cy, r } => Shape::Disc { cx: cx + dx, cy: cy + dy, r },
            Shape::Rect { x0, y0, x1, y1 } => Shape::Rect { x0: x0 + dx, y0: y0 + dy, x1: x1 + dx, y1: y1 + dy },
            Shape::Stroke { x0, y0, x1, y1, hw } => {
                Shape::Stroke { x0: x0 + dx, y0: y0 + dy, x1: x1 + dx, y1: y1 + dy, hw }
            }
        }
    }

    /// (x0, y0, x1, y1) holding the whole shape.
    fn bounds(&self) -> (f64, f64, f64, f64) {
        match *self {
            Shape::Disc { cx, cy, r } => (cx - r, cy - r, cx + r, cy + r),
            Shape::Rect { x0, y0, x1, y1 } => (x0, y0, x1, y1),
            Shape::Stroke { x0, y0, x1, y1, hw } => {
                (x0.min(x1) - hw, y0.min(y1) - hw, x0.max(x1) + hw, y0.max(y1) + hw)
            }
        }
    }

    /// Fraction of pixel (px, py) the shape covers, from 4x4 samples.
    fn coverage(&self, px: usize, py: usize) -> f64 {
        let (x0, y0, x1, y1) = self.bounds();
        let (fx, fy) = (px as f64, py as f64);
        if fx + 1.0 < x0 || fx > x1 || fy + 1.0 < y0 || fy > y1 {
            return 0.0;
        }
        let mut n = 0;
        for sy in 0..4 {
            for sx in 0..4 {
                if self.contains(px as f64 + (sx as f64 + 0.5) / 4.0, py as f64 + (sy as f64 + 0.5) / 4.0) {
                    n += 1;
                }
            }
        }
        f64::from(n) / 16.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paint {
    pub shape: Shape,
    pub color: [u8; 4],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ground {
    Flat([u8; 4]),
    /// Diagonal gradient from the first colour (top left) to the second (bottom right).
    Gradient([u8; 4], [u8; 4]),
    /// Random pixels from a seed; alpha random too unless `opaque`.
    Noise {
        seed: u64,
        opaque: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub ground: Ground,
    pub paints: Vec<Paint>,
}

impl Scene {
    pub fn new(width: usize, height: usize, ground: Ground, paints: Vec<Paint>) -> Scene {
        Scene { width, height, ground, paints }
    }

    /// The same scene with every shape moved by (dx, dy).
    pub fn moved(&self, dx: f64, dy: f64) -> Scene {
        let paints = self.paints.iter().map(|p| Paint { shape: p.shape.moved(dx, dy), ..*p }).collect();
        Scene { paints, ..self.clone() }
    }

    /// RGBA8 pixels: the ground, then each paint composited over it ("over", straight alpha).
    pub fn render(&self) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let mut noise = match self.ground {
            Ground::Noise { seed, .. } => Some(Rng::new(seed)),
            _ => None,
        };
        let mut px: Vec<[f64; 4]> = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let ground = match self.ground {
                    Ground::Flat(c) => c,
                    Ground::Gradient(a, b) => {
                        let t = if w + h <= 2 { 0.0 } else { (x + y) as f64 / (w + h - 2) as f64 };
                        std::array::from_fn(|i| {
                            (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * t).round() as u8
                        })
                    }
                    Ground::Noise { opaque, .. } => noise.as_mut().map_or([0; 4], |r| r.color(opaque)),
                };
                px.push(ground.map(f64::from));
            }
        }
        // Painter's algorithm, each paint over the pixels its bounds touch.
        for paint in &self.paints {
            let (x0, y0, x1, y1) = paint.shape.bounds();
            let cols = (x0.floor().max(0.0) as usize)..(x1.ceil().max(0.0) as usize + 1).min(w);
            for y in (y0.floor().max(0.0) as usize)..(y1.ceil().max(0.0) as usize + 1).min(h) {
                for x in cols.clone() {
                    let cov = paint.shape.coverage(x, y);
                    if cov > 0.0 {
                        px[y * w + x] = over(px[y * w + x], paint.color, cov);
                    }
                }
            }
        }
        px.iter().flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8)).collect()
    }
}

/// `color` at coverage `cov` composited over `dst` (straight alpha, 0..255 channels).
fn over(dst: [f64; 4], color: [u8; 4], cov: f64) -> [f64; 4] {
    let sa = f64::from(color[3]) / 255.0 * cov;
    let da = dst[3] / 255.0;
    let oa = sa + da * (1.0 - sa);
    if oa <= 0.0 {
        return [0.0; 4];
    }
    let c = |i: usize| (f64::from(color[i]) * sa + dst[i] * da * (1.0 - sa)) / oa;
    [c(0), c(1), c(2), oa * 255.0]
}

/// `n` random shapes over a `width`×`height` canvas: discs, rectangles and strokes with
/// fractional coordinates (so their edges are anti-aliased).
pub fn random_paints(rng: &mut Rng, width: usize, height: usize, n: usize, opaque: bool) -> Vec<Paint> {
    let (w, h) = (width as f64, height as f64);
    (0..n)
        .map(|_| {
            let shape = match rng.below(3) {
                0 => Shape::Disc {
                    cx: rng.range(0.0, w),
                    cy: rng.range(0.0, h),
                    r: rng.range(0.3, (w.min(h) / 3.0).max(0.8)),
                },
                1 => {
                    let (x0, y0) = (rng.range(-1.0, w), rng.range(-1.0, h));
                    Shape::Rect {
                        x0,
                        y0,
                        x1: x0 + rng.range(0.4, w / 2.0 + 1.0),
                        y1: y0 + rng.range(0.4, h / 2.0 + 1.0),
                    }
                }
                _ => Shape::Stroke {
                    x0: rng.range(0.0, w),
                    y0: rng.range(0.0, h),
                    x1: rng.range(0.0, w),
                    y1: rng.range(0.0, h),
                    hw: rng.range(0.3, 2.0),
                },
            };
            Paint { shape, color: rng.color(opaque) }
        })
        .collect()
}

/// Glyph-like dark strokes in lines of "words" on white: what a rendered document looks like.
pub fn text_paints(rng: &mut Rng, width: usize, height: usize) -> Vec<Paint> {
    let mut paints = Vec::new();
    let line_height = 14.0;
    let mut y = 4.0;
    while y + 10.0 < height as f64 {
        let mut x = 4.0;
        while x + 8.0 < width as f64 {
            let glyphs = 2 + rng.below(6);
            for _ in 0..glyphs {
                let gw = rng.range(3.0, 6.0);
                let ink = [20 + rng.below(30) as u8, 20 + rng.below(30) as u8, 30 + rng.below(40) as u8, 255];
                // A vertical stem and a slanted or horizontal stroke per glyph.
                paints.push(Paint {
                    shape: Shape::Stroke { x0: x + 0.5, y0: y, x1: x + 0.5, y1: y + 9.0, hw: rng.range(0.45, 0.9) },
                    color: ink,
                });
                let (y0, y1) = (y + rng.range(0.0, 9.0), y + rng.range(0.0, 9.0));
                paints.push(Paint {
                    shape: Shape::Stroke { x0: x, y0, x1: x + gw, y1, hw: rng.range(0.4, 0.8) },
                    color: ink,
                });
                x += gw + 1.5;
            }
            x += 6.0;
        }
        y += line_height;
    }
    paints
}
